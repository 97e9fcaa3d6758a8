"""A set of named flags stored as an integer bitmask: filterable the same way on SQLite and
PostgreSQL (`field__has="online"`), shown as check boxes in forms and as a list of names in the API."""

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Lookup


class FlagSetField(models.PositiveIntegerField):
    def __init__(self, *args, flags=(), **kwargs):
        self.flags = list(flags)  # [(name, label), ...]; order fixes the bit
        kwargs.setdefault("default", 0)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["flags"] = self.flags
        return name, path, args, kwargs

    def contribute_to_class(self, cls, name, **kwargs):
        super().contribute_to_class(cls, name, **kwargs)
        # Like get_FOO_display for choices: obj.get_modes_names() / obj.get_modes_labels().
        setattr(cls, f"get_{name}_names", lambda obj: self.to_names(getattr(obj, self.attname) or 0))
        setattr(cls, f"get_{name}_labels", lambda obj: self.labels(getattr(obj, self.attname) or 0))

    def bit(self, name):
        for i, (flag, _label) in enumerate(self.flags):
            if flag == name:
                return 1 << i
        raise ValidationError(f"未知选项“{name}”")

    def to_mask(self, value):
        if value is None or value == "":
            return 0
        if isinstance(value, int):
            return value
        mask = 0
        for name in value:
            mask |= self.bit(name)
        return mask

    def to_names(self, mask):
        return [name for i, (name, _l) in enumerate(self.flags) if mask & (1 << i)]

    def labels(self, mask):
        return [label for i, (_n, label) in enumerate(self.flags) if mask & (1 << i)]

    def get_prep_value(self, value):
        return super().get_prep_value(self.to_mask(value))

    def from_db_value(self, value, expression, connection):
        return value

    def formfield(self, **kwargs):
        return FlagSetFormField(field=self, required=not self.blank, label=self.verbose_name, help_text=self.help_text)

    def value_from_object(self, obj):
        return self.to_names(getattr(obj, self.attname) or 0)

    def validate(self, value, model_instance):
        self.to_mask(value)

    def clean(self, value, model_instance):
        mask = self.to_mask(value)
        if not self.blank and not mask:
            raise ValidationError("请至少选择一项")
        return mask

    def pre_save(self, model_instance, add):
        mask = self.to_mask(getattr(model_instance, self.attname))
        setattr(model_instance, self.attname, mask)
        return mask


class FlagSetFormField(forms.MultipleChoiceField):
    def __init__(self, field, **kwargs):
        self.model_field = field
        super().__init__(choices=field.flags, widget=forms.CheckboxSelectMultiple, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, int):
            return self.model_field.to_names(value)
        return value

    def clean(self, value):
        return self.model_field.to_mask(super().clean(value))

    def has_changed(self, initial, data):
        return self.model_field.to_mask(initial or 0) != self.model_field.to_mask(data or [])


@FlagSetField.register_lookup
class HasFlag(Lookup):
    lookup_name = "has"

    def get_prep_lookup(self):
        return self.lhs.output_field.bit(self.rhs)

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"({lhs} & {rhs}) <> 0", [*lhs_params, *rhs_params]
