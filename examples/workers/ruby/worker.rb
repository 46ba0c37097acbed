# Transcode then loudness-normalize the payload's input with ferrostack-media.
require "json"
require "open3"

def media(*args)
  out, err, status = Open3.capture3("ferrostack-media", *args, "--json")
  unless status.success?
    $stderr.write(out + err)
    exit(status.exitstatus || 1)
  end
  JSON.parse(out)
end

payload = JSON.parse(File.read(ENV.fetch("PAYLOAD_FILE")))
tmp = payload["output"] + ".transcoded.mp4"
transcoded = media("transcode", payload["input"], tmp, "--preset", "mp4-h264-aac")
normalized = media("normalize", tmp, payload["output"])
File.delete(tmp)
puts JSON.generate({ worker: "ruby", transcode: transcoded, normalize: normalized })
