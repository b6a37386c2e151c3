// A real HTTPS webhook receiver for the tests: checks X-Idv-Signature the way docs/integrations.md
// tells a receiver to, appends {valid, timestamp, body} as one JSON line to OUT, answers 200
// (401 when the signature is wrong). argv: OUT PORT CERT KEY SECRETFILE; prints "listening PORT".
import { createHmac, timingSafeEqual } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [out, port, cert, key, secretFile] = process.argv.slice(2);
const secret = readFileSync(secretFile, 'utf8').replace(/\r?\n$/, '');
const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const timestamp = String(req.headers['x-idv-timestamp'] ?? '');
    const expected = Buffer.from(
      `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`,
    );
    const got = Buffer.from(String(req.headers['x-idv-signature'] ?? ''));
    const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
    const valid = got.length === expected.length && timingSafeEqual(got, expected) && fresh;
    appendFileSync(out, `${JSON.stringify({ valid, timestamp, body })}\n`);
    res.writeHead(valid ? 200 : 401).end();
  });
});
server.listen(Number(port), '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
