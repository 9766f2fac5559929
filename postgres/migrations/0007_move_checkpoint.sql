-- palimpsest_move_checkpoint moves a projection's checkpoint from p_from to
-- p_to, counting p_applied events, or fails with SQLSTATE PCM01 when the
-- checkpoint is not at p_from (a stale leader, a rebuild's swap moved it).
--
-- A projection batch calls it first thing in its transaction, in the same
-- round trip as BEGIN (projections/subscriber.go, runner.beginSQL): the
-- UPDATE takes the row lock (waiting for a concurrent writer and re-checking
-- p_from after it), so the batch is serialized with every other writer of
-- the checkpoint before it touches a read table, and a failed check aborts
-- the transaction before anything is written.
CREATE OR REPLACE FUNCTION palimpsest_move_checkpoint(p_name text, p_from bigint, p_to bigint, p_applied bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE projection_checkpoints
    SET position = p_to, events_applied = events_applied + p_applied, updated_at = now()
    WHERE name = p_name AND position = p_from;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'checkpoint of % is not at %', p_name, p_from USING ERRCODE = 'PCM01';
    END IF;
END
$$;
