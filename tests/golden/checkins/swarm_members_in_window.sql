SELECT checkins.account_id, max(checkins.local_day) AS last_counted_day 
FROM checkins 
WHERE checkins.venue_id = %(venue)s::UUID AND checkins.counted AND checkins.created_at >= %(window_start)s::TIMESTAMP WITH TIME ZONE AND checkins.created_at <= %(now)s::TIMESTAMP WITH TIME ZONE + %(param_1)s GROUP BY checkins.account_id ORDER BY checkins.account_id
