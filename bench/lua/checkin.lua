-- Check-ins that the verification rules accept: each account keeps to the venues of one small
-- grid cell (about 2 x 2 km) and the accounts take turns, so an account's next check-in comes
-- as late as the request rate allows and never needs more than 300 km/h from its previous one.
-- Random accounts at random venues across the city are mostly refused as "too-fast" once the
-- rate passes a few hundred per second: that measures refusals, not check-ins.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local tokens = tokens_from_env("BENCH_TOKEN_PREFIX", tonumber(os.getenv("BENCH_ACCOUNTS")))
local CELL_LAT, CELL_LON = 0.02, 0.03
local homes, cells = {}, {}  -- homes[i]: the cell of venue i (so busy cells get more accounts)
for line in io.lines(os.getenv("BENCH_VENUES_FILE")) do
  local id, lat, lon = line:match("([^,]+),([^,]+),([^,]+)")
  local key = math.floor(tonumber(lat) / CELL_LAT) .. ":" .. math.floor(tonumber(lon) / CELL_LON)
  cells[key] = cells[key] or {}
  table.insert(cells[key], {id, lat, lon})
  homes[#homes + 1] = cells[key]
end

local threads, turn = tonumber(os.getenv("BENCH_WRK_THREADS")), 0
request = function()
  -- the wrk threads take alternate accounts, each thread in order
  local account = (turn * threads + thread_id - 1) % #tokens + 1
  turn = turn + 1
  local cell = homes[account % #homes + 1]
  local v = cell[math.random(#cell)]
  return wrk.format("POST", "/api/v1/venues/" .. v[1] .. "/checkins",
                    {["Authorization"] = "Bearer " .. tokens[account], ["Content-Type"] = "application/json"},
                    string.format('{"location": {"lat": %s, "lon": %s}, "accuracy_m": 15}', v[2], v[3]))
end
