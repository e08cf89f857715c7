-- The page a sandbox challenge or crypto invoice sends its customer back to:
-- Obol's signed return for the payment.
ALTER TABLE sandbox_payments ADD COLUMN return_url TEXT;
