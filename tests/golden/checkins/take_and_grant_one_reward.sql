WITH taken AS 
(UPDATE reward_programs SET rewards_issued=(reward_programs.rewards_issued + %(rewards_issued_1)s::INTEGER) WHERE reward_programs.id = %(program_id)s::UUID AND (reward_programs.max_rewards IS NULL OR reward_programs.rewards_issued < reward_programs.max_rewards) AND (reward_programs.kind != %(kind_1)s::VARCHAR OR reward_programs.rewards_issued < reward_programs.threshold) AND NOT (EXISTS (SELECT * 
FROM rewards 
WHERE rewards.dedupe_key = %(dedupe_key)s::VARCHAR)) RETURNING reward_programs.id, reward_programs.rewards_issued, reward_programs.title), 
granted AS 
(INSERT INTO rewards (code, dedupe_key, program_id, venue_id, account_id, checkin_id, title, earned_at) SELECT %(code)s::VARCHAR AS anon_4, %(dedupe_key)s::VARCHAR AS anon_5, taken.id AS id, %(venue)s::UUID AS anon_6, %(account_id)s::UUID AS anon_7, %(checkin_id)s::UUID AS anon_8, taken.title AS title, %(now)s::TIMESTAMP WITH TIME ZONE AS anon_9 
FROM taken ON CONFLICT (dedupe_key) DO NOTHING RETURNING rewards.id, rewards.code, rewards.program_id, rewards.venue_id, rewards.account_id, rewards.title, rewards.status, rewards.earned_at, rewards.redeemed_at), 
reward_event AS 
(INSERT INTO outbox_events (kind, recipient_id, title, body, payload, dedupe_key) SELECT %(param_1)s::VARCHAR AS anon_1, anon_2.recipient_id AS recipient_id, anon_2.title AS title, anon_2.body AS body, anon_2.payload AS payload, anon_2.event_key || %(param_2)s::VARCHAR || CAST(anon_2.recipient_id AS VARCHAR) AS anon_3 
FROM (SELECT granted.account_id AS recipient_id, %(param_3)s::VARCHAR AS title, %(param_4)s::VARCHAR || granted.title || %(param_5)s::VARCHAR || %(venue_name)s::VARCHAR || %(param_6)s::VARCHAR AS body, jsonb_build_object(%(jsonb_build_object_1)s::VARCHAR, granted.code, %(jsonb_build_object_2)s::VARCHAR, CAST(granted.program_id AS VARCHAR), %(jsonb_build_object_3)s::VARCHAR, CAST(granted.venue_id AS VARCHAR), %(jsonb_build_object_4)s::VARCHAR, granted.title) AS payload, %(param_7)s::VARCHAR || CAST(granted.id AS VARCHAR) AS event_key 
FROM granted) AS anon_2 ON CONFLICT (dedupe_key) DO NOTHING)
 SELECT coalesce(taken.rewards_issued, reward_programs.rewards_issued) AS issued, taken.id IS NOT NULL AS taken, granted.id, granted.code, granted.program_id, granted.venue_id, granted.account_id, granted.title, granted.status, granted.earned_at, granted.redeemed_at 
FROM reward_programs LEFT OUTER JOIN taken ON true LEFT OUTER JOIN granted ON true 
WHERE reward_programs.id = %(program_id)s::UUID
