-- Shared by the wrk scripts: random points around the seeded German cities.
cities = {
  {52.520, 13.405, 0.12}, {53.551, 9.994, 0.10}, {48.137, 11.575, 0.09}, {50.938, 6.960, 0.08},
  {50.110, 8.682, 0.07}, {48.776, 9.183, 0.07}, {51.227, 6.773, 0.06}, {51.340, 12.375, 0.06},
}

function random_point()
  local c = cities[math.random(#cities)]
  return c[1] + (math.random() - 0.5) * 2 * c[3], c[2] + (math.random() - 0.5) * 3.2 * c[3]
end

function tokens_from_env(name, count)
  local prefix, list = os.getenv(name), {}
  for i = 1, count do list[i] = prefix .. i end
  return list
end

thread_counter = 0
function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("thread_id", thread_counter)
end

function init(args)
  math.randomseed(os.time() + (thread_id or 0) * 7919)
end
