"""Import every model module so both metadata objects are complete (migrations, tests)."""

from atrium.apps.finance import models as _finance  # noqa: F401
from atrium.apps.finance.banking import models as _finance_banking  # noqa: F401
from atrium.apps.finance.receivables import models as _finance_receivables  # noqa: F401
from atrium.apps.notes import models as _notes  # noqa: F401
from atrium.core import jobs_models as _jobs  # noqa: F401
from atrium.core.audit import models as _audit  # noqa: F401
from atrium.core.events import models as _events  # noqa: F401
from atrium.platform.access import models as _access  # noqa: F401
from atrium.platform.entitlements import models as _entitlements  # noqa: F401
from atrium.platform.flags import models as _flags  # noqa: F401
from atrium.platform.identity import models as _identity  # noqa: F401
from atrium.platform.identity import security_models as _security  # noqa: F401
from atrium.platform.identity import sms_models as _sms  # noqa: F401
from atrium.platform.identity.oauth import models as _oauth  # noqa: F401
from atrium.platform.identity.scim import models as _scim  # noqa: F401
from atrium.platform.identity.sso import models as _sso  # noqa: F401
from atrium.platform.tenancy import models as _tenancy  # noqa: F401
from atrium.platform.tenancy import tenant_models as _tenant_data  # noqa: F401
