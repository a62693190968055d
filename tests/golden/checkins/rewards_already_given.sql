SELECT rewards.dedupe_key 
FROM rewards 
WHERE rewards.dedupe_key = any(%(keys)s::VARCHAR(200)[])
