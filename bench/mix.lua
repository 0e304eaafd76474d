-- wrk script: a day in a cloud's life, for the load run (bench/run.sh mix,
-- docs/reliability.md). Run with one connection per thread (-t N -c N), so
-- that each answer belongs to the thread's last request.
-- Args: the image id, and a file with the Keystone password body.
-- Each thread keeps up to 20 servers of its own, and per request picks:
--   30% GET /servers/{id} of one of them     10% POST /servers (create)
--   15% GET /servers/detail?limit=50          20% an action (stop/start/reboot/pause/unpause)
--    5% GET /flavors/detail                   10% DELETE /servers/{id}
--   10% POST /identity/v3/auth/tokens (password)
-- Expected answers: 200, 201, 202, 204, and 409 for an action on a server
-- still busy with the last one. Prints the counts; anything else is an error.
local threads = {}
local image, token_body
local mine = {}
local last = nil
requests_by_kind = {}
ok, conflicts, errors = 0, 0, 0
first_error = ""

local actions = {
  '{"os-stop": null}', '{"os-start": null}', '{"reboot": {"type": "SOFT"}}',
  '{"pause": null}', '{"unpause": null}',
}

function setup(thread)
  table.insert(threads, thread)
  thread:set("index", #threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + index)
  image = args[1]
  token_body = io.open(args[2]):read("*a")
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["OpenStack-API-Version"] = "compute latest"
end

local function pick()
  return mine[math.random(#mine)]
end

function request()
  local roll = math.random(100)
  if #mine == 0 or (roll <= 10 and #mine < 20) then
    last = "create"
    return wrk.format("POST", "/compute/v2.1/servers", nil,
      '{"server": {"name": "load", "imageRef": "' .. image .. '", "flavorRef": "42", "networks": "auto"}}')
  elseif roll <= 40 then
    last = "show"
    return wrk.format("GET", "/compute/v2.1/servers/" .. pick())
  elseif roll <= 55 then
    last = "list"
    return wrk.format("GET", "/compute/v2.1/servers/detail?limit=50")
  elseif roll <= 60 then
    last = "flavors"
    return wrk.format("GET", "/compute/v2.1/flavors/detail")
  elseif roll <= 80 then
    last = "action"
    return wrk.format("POST", "/compute/v2.1/servers/" .. pick() .. "/action", nil,
      actions[math.random(#actions)])
  elseif roll <= 90 and #mine > 1 then
    last = "delete"
    local i = math.random(#mine)
    local id = table.remove(mine, i)
    return wrk.format("DELETE", "/compute/v2.1/servers/" .. id)
  else
    last = "token"
    return wrk.format("POST", "/identity/v3/auth/tokens", nil, token_body)
  end
end

function response(status, headers, body)
  requests_by_kind[last] = (requests_by_kind[last] or 0) + 1
  if last == "create" and status == 202 then
    table.insert(mine, body:match('"id": ?"([^"]+)"'))
  end
  if status == 200 or status == 201 or status == 202 or status == 204 then
    ok = ok + 1
  elseif status == 409 and last == "action" then
    conflicts = conflicts + 1
  else
    errors = errors + 1
    if first_error == "" then
      first_error = last .. " answered " .. status .. ": " .. string.sub(body, 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local o, c, e, first = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    o = o + t:get("ok"); c = c + t:get("conflicts"); e = e + t:get("errors")
    if first == "" then first = t:get("first_error") end
  end
  io.write(string.format("mix answers: %d expected, %d conflicts (409 to an action on a busy server), %d errors\n",
    o, c, e))
  if first ~= "" then io.write("mix first error: " .. first .. "\n") end
end
