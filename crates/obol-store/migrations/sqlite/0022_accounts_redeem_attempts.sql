-- 0022_accounts_redeem_attempts: a redemption counts itself among the
-- failures before it is tried (so concurrent guesses see each other), and
-- takes its rows back when it was no guess: each row names its attempt.
ALTER TABLE redeem_failures ADD COLUMN attempt_id TEXT;
