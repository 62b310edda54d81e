"""The form field API in one place: the model, messages, type coercion, limits and descriptions.

Each part lives in its own module (form_model, form_messages, form_coercion, form_validation,
form_description); this module re-exports their public names so existing imports keep working.
"""

from __future__ import annotations

from .form_coercion import LOCAL_TZ as LOCAL_TZ
from .form_coercion import MAX_SAFE_INTEGER as MAX_SAFE_INTEGER
from .form_coercion import NUMBER_RE as NUMBER_RE
from .form_coercion import Invalid as Invalid
from .form_coercion import TypedField as TypedField
from .form_coercion import coerce as coerce
from .form_coercion import invalid_code as invalid_code
from .form_coercion import is_blank as is_blank
from .form_coercion import parse_date as parse_date
from .form_coercion import parse_datetime as parse_datetime
from .form_coercion import schema_for as schema_for
from .form_coercion import to_boolean as to_boolean
from .form_coercion import to_choice as to_choice
from .form_coercion import to_date as to_date
from .form_coercion import to_datetime as to_datetime
from .form_coercion import to_integer as to_integer
from .form_coercion import to_number as to_number
from .form_coercion import to_text as to_text
from .form_coercion import to_user as to_user
from .form_description import describe_form as describe_form
from .form_messages import Message as Message
from .form_messages import message as message
from .form_model import DEFAULT_MAX_LENGTH as DEFAULT_MAX_LENGTH
from .form_model import FIELD_TYPES as FIELD_TYPES
from .form_model import NAME_RE as NAME_RE
from .form_model import ORDERED_TYPES as ORDERED_TYPES
from .form_model import TEXT_TYPES as TEXT_TYPES
from .form_model import DistinctDef as DistinctDef
from .form_model import FieldDef as FieldDef
from .form_model import FormDef as FormDef
from .form_model import Option as Option
from .form_model import RuleDef as RuleDef
from .form_validation import as_comparable as as_comparable
from .form_validation import limit_messages as limit_messages
from .form_validation import show_limit as show_limit
