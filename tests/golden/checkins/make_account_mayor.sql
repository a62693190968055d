UPDATE reward_programs SET mayor_id=%(account_id)s::UUID WHERE reward_programs.id = %(program_id)s::UUID
