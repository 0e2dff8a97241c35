// Where the test services are. `npm test` (scripts/test.sh) starts them and sets these.
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://jarvis:jarvis@127.0.0.1:5432/postgres';
export const TEST_REGISTRY = process.env.JARVIS_TEST_REGISTRY ?? '127.0.0.1:5000';
export const TEST_IMAGE = 'jarvis-test/busybox:latest';
export const REMOTE_IMAGE = `${TEST_REGISTRY}/jarvis-test/remote-busybox:latest`;
