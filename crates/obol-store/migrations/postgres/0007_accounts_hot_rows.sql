-- A brand's ledger accounts take an update from every payment. An update
-- that finds room on its page stays there (a HOT update) and adds no index
-- entry; without room, each one leaves a new entry under the same key that
-- every later lookup of the account walks past until vacuum. Mostly empty
-- pages keep those updates on the page.
ALTER TABLE ledger_accounts SET (fillfactor = 10);
-- Orders change status a few times each, soon after creation.
ALTER TABLE orders SET (fillfactor = 70);
