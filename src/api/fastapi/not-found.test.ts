// Starlette's answers for requests no route takes.
import { Hono } from 'hono';
import { describe } from 'vitest';
import { runTable, type HttpTableRow } from '../../../test/support/http-table.ts';
import { notFoundLikeStarlette } from './not-found.ts';

const app = new Hono();
app.use('*', async (_c, next) => next());
app.post('/items', (c) => c.text('created'));
app.get('/items', (c) => c.text('list'));
app.get('/items/:id', (c) => c.text('one'));
app.put('/items/:id', (c) => c.text('put'));
app.post('/items/:id/cancel', (c) => c.text('cancelled'));
app.notFound(notFoundLikeStarlette(app));

const rows: HttpTableRow[] = [
  { name: 'unknown path', method: 'GET', path: '/nope', status: 404, json: { detail: 'Not Found' } },
  { name: 'unknown path, POST with a body', method: 'POST', path: '/nope', body: {}, status: 404, json: { detail: 'Not Found' } },
  { name: 'middleware does not make a path exist', method: 'DELETE', path: '/anything/at/all', status: 404, json: { detail: 'Not Found' } },
  { name: 'wrong method: the allowed ones in registration order, HEAD after GET', method: 'DELETE', path: '/items', status: 405, json: { detail: 'Method Not Allowed' }, responseHeaders: { allow: 'POST, GET, HEAD' } },
  { name: 'wrong method on a path with a parameter', method: 'POST', path: '/items/42', body: {}, status: 405, json: { detail: 'Method Not Allowed' }, responseHeaders: { allow: 'GET, HEAD, PUT' } },
  { name: 'wrong method, POST only', method: 'GET', path: '/items/42/cancel', status: 405, json: { detail: 'Method Not Allowed' }, responseHeaders: { allow: 'POST' } },
  { name: 'trailing slash: 307 without it, query kept', method: 'GET', path: '/items/?limit=3', status: 307, responseHeaders: { location: 'http://localhost/items?limit=3' } },
  { name: 'missing trailing slash is not added when neither exists', method: 'GET', path: '/nope/', status: 404, json: { detail: 'Not Found' } },
];

describe('not found, method not allowed, redirect_slashes', () => runTable(app, rows));
