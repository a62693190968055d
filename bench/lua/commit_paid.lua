dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local tokens = tokens_from_env("BENCH_TOKEN_PREFIX", tonumber(os.getenv("BENCH_ACCOUNTS")))
local path = "/api/v1/deals/" .. os.getenv("BENCH_DEAL") .. "/commitments"
local body = '{"quantity": 1, "payment_method": "' .. os.getenv("BENCH_PAYMENT_METHOD") .. '"}'
statuses = {}

request = function()
  local token = tokens[math.random(#tokens)]
  return wrk.format("POST", path, {["Authorization"] = "Bearer " .. token,
                    ["Content-Type"] = "application/json"}, body)
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
