-- wrk script: POST /compute/v2.1/servers until `total` creates have been
-- answered across all threads. Args: total threads image_id.
-- Prints the number of 202s and of other answers (5xx separately).
local threads = {}
local share, answered = 0, 0
accepted, refused, failed = 0, 0, 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  share = math.ceil(tonumber(args[1]) / tonumber(args[2]))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["OpenStack-API-Version"] = "compute latest"
  wrk.body = '{"server": {"name": "bench", "imageRef": "' .. args[3] ..
    '", "flavorRef": "1", "networks": "auto"}}'
end

function response(status, headers, body)
  answered = answered + 1
  if status == 202 then accepted = accepted + 1
  elseif status >= 500 then failed = failed + 1
  else refused = refused + 1 end
  if answered >= share then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local a, r, f = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted"); r = r + t:get("refused"); f = f + t:get("failed")
  end
  io.write(string.format("answers: %d accepted, %d refused, %d failed\n", a, r, f))
end
