"""Signals of 好差评, sent inside the transaction that changes a rating or its rectification."""

from django.dispatch import Signal

# sender=Evaluation, evaluation=the initial or additional rating, changes={figure: delta} with the names
# of tongban.supervision.summary.RATING_FIELDS (the cockpit's rating figures keep up with it).
rating_changed = Signal()
