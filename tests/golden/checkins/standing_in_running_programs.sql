SELECT (SELECT ST_Distance(previous.location, CAST(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), %(ST_SetSRID_1)s::INTEGER) AS geography(GEOMETRY,4326)), %(ST_Distance_2)s) AS "ST_Distance_1" 
FROM (SELECT checkins.location AS location, checkins.created_at AS created_at 
FROM checkins 
WHERE checkins.account_id = %(account_id)s::UUID AND checkins.counted AND checkins.created_at <= %(now)s::TIMESTAMP WITH TIME ZONE ORDER BY checkins.created_at DESC 
 LIMIT %(param_1)s::INTEGER) AS previous) AS previous_distance, (SELECT previous.created_at 
FROM (SELECT checkins.location AS location, checkins.created_at AS created_at 
FROM checkins 
WHERE checkins.account_id = %(account_id)s::UUID AND checkins.counted AND checkins.created_at <= %(now)s::TIMESTAMP WITH TIME ZONE ORDER BY checkins.created_at DESC 
 LIMIT %(param_1)s::INTEGER) AS previous) AS previous_at, EXISTS (SELECT * 
FROM checkins 
WHERE checkins.account_id = %(account_id)s::UUID AND checkins.venue_id = %(venue)s::UUID AND checkins.local_day = %(local_day)s::DATE AND checkins.counted) AS counted_today, (SELECT count(*) AS count_1 
FROM checkins 
WHERE checkins.account_id = %(account_id)s::UUID AND checkins.venue_id = %(venue)s::UUID AND checkins.counted AND checkins.created_at <= %(now)s::TIMESTAMP WITH TIME ZONE) AS counted_ever, reward_programs.id, reward_programs.venue_id, reward_programs.kind, reward_programs.title, reward_programs.description, reward_programs.threshold, reward_programs.window_days, reward_programs.window_minutes, reward_programs.starts_at, reward_programs.ends_at, reward_programs.max_rewards, reward_programs.rewards_issued, reward_programs.mayor_id, reward_programs.created_at, CASE WHEN (reward_programs.kind = %(kind_1)s::VARCHAR) THEN (SELECT count(*) AS count_2 
FROM checkins 
WHERE checkins.account_id = %(account_id)s::UUID AND checkins.venue_id = %(venue)s::UUID AND checkins.counted AND checkins.created_at <= %(now)s::TIMESTAMP WITH TIME ZONE AND checkins.created_at >= reward_programs.starts_at) END AS counted_since_start, CASE WHEN (reward_programs.kind = %(kind_2)s::VARCHAR OR reward_programs.kind = %(kind_3)s::VARCHAR) THEN (SELECT max(rewards.earned_at) AS max_1 
FROM rewards 
WHERE rewards.program_id = reward_programs.id AND rewards.account_id = %(account_id)s::UUID) END AS last_reward_at, CASE WHEN (reward_programs.kind = %(kind_4)s::VARCHAR) THEN (SELECT count(*) AS count_3 
FROM checkins 
WHERE checkins.account_id = %(account_id)s::UUID AND checkins.venue_id = %(venue)s::UUID AND checkins.counted AND checkins.created_at <= %(now)s::TIMESTAMP WITH TIME ZONE AND checkins.created_at >= greatest(%(now)s::TIMESTAMP WITH TIME ZONE - make_interval(%(make_interval_1)s::INTEGER, %(make_interval_2)s::INTEGER, %(make_interval_3)s::INTEGER, reward_programs.window_days), reward_programs.starts_at) AND checkins.created_at > coalesce((SELECT max(rewards.earned_at) AS max_1 
FROM rewards 
WHERE rewards.program_id = reward_programs.id AND rewards.account_id = %(account_id)s::UUID), %(param_2)s::TIMESTAMP WITH TIME ZONE)) END AS counted_in_window, CASE WHEN (reward_programs.kind = %(kind_5)s::VARCHAR) THEN (SELECT count(DISTINCT checkins.local_day) AS count_4 
FROM checkins 
WHERE checkins.account_id = %(account_id)s::UUID AND checkins.venue_id = %(venue)s::UUID AND checkins.counted AND checkins.local_day >= %(first_day)s::DATE AND checkins.local_day <= %(local_day)s::DATE) END AS mayor_days, CASE WHEN (reward_programs.kind = %(kind_6)s::VARCHAR) THEN (SELECT count(DISTINCT checkins.local_day) AS count_5 
FROM checkins 
WHERE checkins.account_id = reward_programs.mayor_id AND checkins.venue_id = %(venue)s::UUID AND checkins.counted AND checkins.local_day >= %(first_day)s::DATE AND checkins.local_day <= %(local_day)s::DATE) END AS incumbent_days, CASE WHEN (reward_programs.kind = %(kind_7)s::VARCHAR) THEN (SELECT count(DISTINCT checkins.account_id) AS count_6 
FROM checkins 
WHERE checkins.venue_id = %(venue)s::UUID AND checkins.counted AND checkins.created_at >= greatest(%(now)s::TIMESTAMP WITH TIME ZONE - make_interval(%(make_interval_4)s::INTEGER, %(make_interval_5)s::INTEGER, %(make_interval_6)s::INTEGER, %(make_interval_7)s::INTEGER, %(make_interval_8)s::INTEGER, reward_programs.window_minutes), reward_programs.starts_at) AND checkins.created_at <= %(now)s::TIMESTAMP WITH TIME ZONE + %(param_3)s) WHEN (reward_programs.kind = %(kind_8)s::VARCHAR) THEN (SELECT count(DISTINCT checkins.account_id) AS count_7 
FROM checkins 
WHERE checkins.venue_id = %(venue)s::UUID AND checkins.counted AND checkins.created_at >= greatest(%(now)s::TIMESTAMP WITH TIME ZONE - make_interval(%(make_interval_9)s::INTEGER, %(make_interval_10)s::INTEGER, %(make_interval_11)s::INTEGER, %(make_interval_12)s::INTEGER, %(make_interval_13)s::INTEGER, reward_programs.window_minutes), reward_programs.starts_at) AND checkins.created_at <= %(now)s::TIMESTAMP WITH TIME ZONE + %(param_4)s AND (checkins.account_id = %(account_id)s::UUID OR checkins.account_id IN (SELECT friendships.friend_id 
FROM friendships 
WHERE friendships.account_id = %(account_id)s::UUID))) END AS window_members 
FROM (SELECT %(param_5)s::INTEGER AS anon_1) AS one LEFT OUTER JOIN reward_programs ON reward_programs.venue_id = %(venue)s::UUID AND reward_programs.starts_at <= %(now)s::TIMESTAMP WITH TIME ZONE AND (reward_programs.ends_at IS NULL OR reward_programs.ends_at > %(now)s::TIMESTAMP WITH TIME ZONE) ORDER BY reward_programs.created_at, reward_programs.id
