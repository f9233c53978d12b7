/** The baseline of the API benchmark: Fastify with one route answering a constant, nothing else. */
import Fastify from 'fastify';

const port = Number(process.argv[2] ?? 0);
const app = Fastify();
app.get('/', async () => ({ verdict: 'none' }));
await app.listen({ host: '127.0.0.1', port });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
