dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local tokens = tokens_from_env("BENCH_TOKEN_PREFIX", tonumber(os.getenv("BENCH_ACCOUNTS")))
local venues = {}
for line in io.lines(os.getenv("BENCH_VENUES_FILE")) do
  local id, lat, lon = line:match("([^,]+),([^,]+),([^,]+)")
  venues[#venues + 1] = {id, lat, lon}
end

request = function()
  local token = tokens[math.random(#tokens)]
  local v = venues[math.random(#venues)]
  return wrk.format("POST", "/api/v1/venues/" .. v[1] .. "/checkins",
                    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"},
                    string.format('{"location": {"lat": %s, "lon": %s}, "accuracy_m": 15}', v[2], v[3]))
end
