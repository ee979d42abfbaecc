"""Limits on the free text users write: notes on dismissals and actions, searches.

Forms and DRF serializers check length through `max_length` and refuse NUL by themselves
(their CharField carries ProhibitNullCharactersValidator). A model TextField does neither,
and its `max_length` creates no database constraint: `NOTE_VALIDATORS` on the field make
model validation, and so every admin form, refuse what the pages and the API refuse.
"""

from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator

# A note says why, in a few sentences; 2,000 characters is a long paragraph.
NOTE_MAX_LENGTH = 2000
# A customer name or external id typed into a search box (Customer.name is 200 wide).
SEARCH_MAX_LENGTH = 200

NOTE_VALIDATORS = [MaxLengthValidator(NOTE_MAX_LENGTH), ProhibitNullCharactersValidator()]
