"""Facade of the cases app: pages, API and admin call these and nothing deeper."""

from .clock import deadline
from .handling import perform
from .intake import add_material, create_draft, own_case, submit, update_draft, visible_case
from .lifecycle import STAFF_ACTIONS, TABLE
from .paperwork import current_materials
from .payments import confirm as confirm_payment
from .payments import start as start_payment
from .tracking import track

__all__ = ["deadline", "perform", "add_material", "create_draft", "own_case", "submit", "update_draft", "visible_case",
           "STAFF_ACTIONS", "TABLE", "current_materials", "confirm_payment", "start_payment", "track"]
