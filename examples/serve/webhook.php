<?php
// Receives stk serve's webhooks and verifies them (Standard Webhooks: HMAC-SHA256 of
// "id.timestamp.body" with the secret's bytes). PHP 8+, no packages.
//   STK_SERVE_WEBHOOK_SECRET=whsec_… php -S 127.0.0.1:9000 webhook.php
$secret = base64_decode(preg_replace('/^whsec_/', '', getenv('STK_SERVE_WEBHOOK_SECRET')));
$id = $_SERVER['HTTP_WEBHOOK_ID'] ?? '';
$timestamp = $_SERVER['HTTP_WEBHOOK_TIMESTAMP'] ?? '';
$body = file_get_contents('php://input');

$expected = base64_encode(hash_hmac('sha256', "$id.$timestamp.$body", $secret, true));
$signed = false;
foreach (explode(' ', $_SERVER['HTTP_WEBHOOK_SIGNATURE'] ?? '') as $signature) {
    $signed = $signed || (str_starts_with($signature, 'v1,') && hash_equals($expected, substr($signature, 3)));
}
if ($id === '' || !$signed || abs(time() - (int) $timestamp) > 300) {
    http_response_code(400);
    exit('bad signature');
}
$event = json_decode($body, true);
// Idempotent by webhook-id: the same id may arrive again.
file_put_contents('php://stdout', "{$event['type']} {$event['data']['reference']} {$event['data']['receipt']}\n");
http_response_code(204);
