"""What people receive: feedback workbooks, reports, run reports, the dashboard, mail replies."""
