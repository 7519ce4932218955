select deadline
from core.periods
where period_code = $period
