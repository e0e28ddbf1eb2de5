-- wrk script for the FHIR benchmark: the same requests for any FHIR R4 server.
-- Environment: OP (read | search | everything | create), IDS (a file of Patient ids, one
-- per line), BASE_PATH (e.g. /fhir), TOKEN (a bearer token; empty for none), PREFER (a
-- Prefer header for every request, e.g. return=minimal; empty for none).
-- Each thread picks patients at random from IDS, seeded per thread.

local op = os.getenv("OP") or "read"
local base = os.getenv("BASE_PATH") or "/fhir"
local token = os.getenv("TOKEN") or ""
local prefer = os.getenv("PREFER") or ""
local ids = {}
for line in io.lines(os.getenv("IDS")) do
  if line ~= "" then ids[#ids + 1] = line end
end

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(tonumber(seed) or 1)
  wrk.headers["Accept"] = "application/fhir+json"
  if token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
  if prefer ~= "" then wrk.headers["Prefer"] = prefer end
end

local function pick() return ids[math.random(#ids)] end

function request()
  local id = pick()
  if op == "read" then
    return wrk.format("GET", base .. "/Patient/" .. id)
  elseif op == "search" then
    return wrk.format("GET", base .. "/Observation?patient=Patient/" .. id)
  elseif op == "everything" then
    return wrk.format("GET", base .. "/Patient/" .. id .. "/$everything")
  elseif op == "create" then
    local body = '{"resourceType":"Observation","status":"final",' ..
      '"code":{"coding":[{"system":"http://loinc.org","code":"72514-3"}]},' ..
      '"subject":{"reference":"Patient/' .. id .. '"},' ..
      '"effectiveDateTime":"2026-01-20","valueInteger":' .. math.random(0, 10) .. '}'
    -- wrk.format takes these headers instead of wrk.headers, not besides them.
    local headers = { ["Content-Type"] = "application/fhir+json" }
    for k, v in pairs(wrk.headers) do headers[k] = v end
    return wrk.format("POST", base .. "/Observation", headers, body)
  end
  error("OP must be read, search, everything or create")
end
