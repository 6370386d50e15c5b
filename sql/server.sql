-- name: ServerHealth
-- Cheap round trip proving the pool can reach Postgres and run a query.
SELECT 1;

-- name: RiverLeader
-- The River client currently elected leader (runs periodic jobs and
-- maintenance), if any.
SELECT leader_id FROM river_leader WHERE expires_at > now();
