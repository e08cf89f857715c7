-- PostgreSQL's 0007 leaves room on the pages of often-updated tables; SQLite
-- rewrites pages in place and has no such setting. Kept so that both
-- backends number their migrations alike.
SELECT 1;
