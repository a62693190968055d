WITH inserted AS 
(INSERT INTO checkins (account_id, venue_id, location, accuracy_m, is_mock, message, distance_m, counted, reasons, local_day, created_at, share) VALUES (%(account_id)s::UUID, %(venue_id)s::UUID, ST_GeogFromText(%(location)s), %(accuracy_m)s, %(is_mock)s, %(message)s::VARCHAR, %(distance_m)s, %(counted)s, %(reasons)s::VARCHAR(32)[], %(local_day)s::DATE, %(created_at)s::TIMESTAMP WITH TIME ZONE, %(share)s::VARCHAR) ON CONFLICT (account_id, venue_id, local_day) WHERE counted DO NOTHING RETURNING checkins.id, checkins.account_id, checkins.venue_id, checkins.created_at, checkins.distance_m, checkins.counted, checkins.reasons, checkins.local_day, checkins.share), 
checkin_event AS 
(INSERT INTO outbox_events (kind, recipient_id, title, body, payload, dedupe_key) SELECT %(param_1)s::VARCHAR AS anon_1, anon_2.recipient_id AS recipient_id, anon_2.title AS title, anon_2.body AS body, anon_2.payload AS payload, anon_2.event_key || %(param_2)s::VARCHAR || CAST(anon_2.recipient_id AS VARCHAR) AS anon_3 
FROM (SELECT %(merchant_id)s::UUID AS recipient_id, %(param_3)s::VARCHAR AS title, %(param_4)s::VARCHAR || %(venue_name)s::VARCHAR || %(param_5)s::VARCHAR AS body, jsonb_build_object(%(jsonb_build_object_1)s::VARCHAR, CAST(inserted.id AS VARCHAR), %(jsonb_build_object_2)s::VARCHAR, CAST(inserted.venue_id AS VARCHAR), %(jsonb_build_object_3)s::VARCHAR, inserted.counted) AS payload, %(param_6)s::VARCHAR || CAST(inserted.id AS VARCHAR) AS event_key 
FROM inserted) AS anon_2 ON CONFLICT (dedupe_key) DO NOTHING), 
program_locks AS 
(SELECT reward_programs.id AS id 
FROM reward_programs 
WHERE reward_programs.id = any(%(locks)s::UUID[]) ORDER BY reward_programs.id FOR UPDATE)
 SELECT inserted.id, inserted.account_id, inserted.venue_id, inserted.created_at, inserted.distance_m, inserted.counted, inserted.reasons, inserted.local_day, inserted.share, (SELECT count(*) AS count_1 
FROM program_locks) AS locked 
FROM inserted
