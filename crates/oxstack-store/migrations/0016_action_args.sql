-- What an action's flow needs to resume after a restart (JSON, never a
-- secret), recorded with the action in the transaction that accepts it.
ALTER TABLE instance_actions ADD COLUMN args TEXT;
