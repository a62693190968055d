UPDATE reward_programs SET rewards_issued=(reward_programs.rewards_issued - %(rewards_issued_1)s::INTEGER) WHERE reward_programs.id = %(program_id)s::UUID
