<?php
// Transcode then loudness-normalize the payload's input with ferrostack-media.

function media(array $args): array
{
    $proc = proc_open(array_merge(['ferrostack-media'], $args, ['--json']), [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
    $out = stream_get_contents($pipes[1]);
    $err = stream_get_contents($pipes[2]);
    fclose($pipes[1]);
    fclose($pipes[2]);
    $status = proc_close($proc);
    if ($status !== 0) {
        fwrite(STDERR, $out . $err);
        exit($status);
    }
    return json_decode($out, true, 512, JSON_THROW_ON_ERROR);
}

$payload = json_decode(file_get_contents(getenv('PAYLOAD_FILE')), true, 512, JSON_THROW_ON_ERROR);
$tmp = $payload['output'] . '.transcoded.mp4';
$transcoded = media(['transcode', $payload['input'], $tmp, '--preset', 'mp4-h264-aac']);
$normalized = media(['normalize', $tmp, $payload['output']]);
unlink($tmp);
echo json_encode(['worker' => 'php', 'transcode' => $transcoded, 'normalize' => $normalized]), "\n";
