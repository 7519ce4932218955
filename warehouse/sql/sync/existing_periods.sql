select period_code
from core.periods
