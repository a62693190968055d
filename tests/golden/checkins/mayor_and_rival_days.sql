SELECT reward_programs.mayor_id, (SELECT count(DISTINCT checkins.local_day) AS count_1 
FROM checkins 
WHERE checkins.account_id = reward_programs.mayor_id AND checkins.venue_id = %(venue)s::UUID AND checkins.counted AND checkins.local_day >= %(first_day)s::DATE AND checkins.local_day <= %(local_day)s::DATE) AS incumbent_days, CASE WHEN (reward_programs.mayor_id IS NULL) THEN (SELECT coalesce(max(anon_1.days), %(coalesce_2)s::INTEGER) AS coalesce_1 
FROM (SELECT count(DISTINCT checkins.local_day) AS days 
FROM checkins 
WHERE checkins.venue_id = %(venue)s::UUID AND checkins.counted AND checkins.account_id != %(account_id)s::UUID AND checkins.local_day >= %(first_day)s::DATE AND checkins.local_day <= %(local_day)s::DATE GROUP BY checkins.account_id) AS anon_1) ELSE %(param_1)s::INTEGER END AS rival_days 
FROM reward_programs 
WHERE reward_programs.id = %(program_id)s::UUID
