-- PostgreSQL only: SQLite never caches token checks (another process on the
-- same file must be seen at once), so it has nothing to announce. This
-- keeps both migration folders in step.
SELECT 1;
