"""Forms of user tasks and start events: the `pf:form` parser, submission validation and the model.

The parts live in form_parser, form_validation, form_model, form_coercion, form_messages and
form_description; import their public names from here.
"""

from __future__ import annotations

from .form_coercion import NUMBER_RE as NUMBER_RE
from .form_coercion import Invalid as Invalid
from .form_coercion import coerce as coerce
from .form_coercion import invalid_code as invalid_code
from .form_coercion import is_blank as is_blank
from .form_coercion import schema_for as schema_for
from .form_description import describe_form as describe_form
from .form_messages import Message as Message
from .form_messages import message as message
from .form_model import FIELD_TYPES as FIELD_TYPES
from .form_model import NAME_RE as NAME_RE
from .form_model import ORDERED_TYPES as ORDERED_TYPES
from .form_model import TEXT_TYPES as TEXT_TYPES
from .form_model import DistinctDef as DistinctDef
from .form_model import FieldDef as FieldDef
from .form_model import FormDef as FormDef
from .form_model import Option as Option
from .form_model import RuleDef as RuleDef
from .form_parser import PF_NS as PF_NS
from .form_parser import RESERVED_NAMES as RESERVED_NAMES
from .form_parser import parse_form as parse_form
from .form_validation import Evaluate as Evaluate
from .form_validation import UserRoles as UserRoles
from .form_validation import limit_messages as limit_messages
from .form_validation import validate_submission as validate_submission
