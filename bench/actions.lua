-- wrk script: a mix of reboot/stop/start/pause/unpause on many servers.
-- Args: a file with one server id per line, the number of threads, and
-- the compute API's path (/compute/v2.1 on oxstack). Every thread takes its own
-- slice of the servers and walks them round robin; each server goes
-- through os-stop, os-start, pause, unpause, reboot in turn, so every
-- request is valid for the state the previous one left (unless the fake
-- driver has not finished it yet: then Nova's 409 is the right answer).
-- Prints the number of 202s, 409s and 5xx answers.
local threads = {}
local ids = {}
local compute
local next_server, step = 1, {}
accepted, conflicts, failed, other = 0, 0, 0, 0

local bodies = {
  '{"os-stop": null}', '{"os-start": null}', '{"pause": null}',
  '{"unpause": null}', '{"reboot": {"type": "SOFT"}}',
}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local all = {}
  for line in io.lines(args[1]) do table.insert(all, line) end
  local count = tonumber(args[2])
  compute = args[3]
  for i = index + 1, #all, count do table.insert(ids, all[i]) end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local id = ids[next_server]
  local s = step[id] or 1
  step[id] = s % #bodies + 1
  next_server = next_server % #ids + 1
  return wrk.format(nil, compute .. "/servers/" .. id .. "/action", nil, bodies[s])
end

function response(status, headers, body)
  if status == 202 then accepted = accepted + 1
  elseif status == 409 then conflicts = conflicts + 1
  elseif status >= 500 then failed = failed + 1
  else other = other + 1 end
end

function done(summary, latency, requests)
  local a, c, f, o = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted"); c = c + t:get("conflicts")
    f = f + t:get("failed"); o = o + t:get("other")
  end
  local secs = summary.duration / 1e6
  io.write(string.format("answers: %d accepted (%.0f/s), %d conflicts, %d failed, %d other\n",
    a, a / secs, c, f, o))
end
