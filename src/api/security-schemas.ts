// Request and response schemas of the security routes (api.md, "Security"): keys, audit, secrets.
import { z } from '@hono/zod-openapi';
import { ROLES, TENANT_PATTERN } from '../auth/keys.ts';
import { laxFloat, queryInt, secretField } from './fastapi/index.ts';

const NoNul = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((v) => !v.includes('\u0000'), { message: 'must not contain the NUL character (\\u0000)' });

export const Tenant = z
  .string()
  .regex(TENANT_PATTERN, 'a tenant name is 1-63 lowercase letters, digits, "_" or "-", starting with a letter or digit')
  .openapi({ example: 'default' });

export const KeyCreate = z
  .strictObject({
    name: NoNul(128),
    role: z.enum(ROLES),
    tenant: Tenant.default('default'),
    rate_limit_per_s: laxFloat(z.number().gte(0.001).lte(1_000_000))
      .nullable()
      .default(null)
      .openapi({ description: 'Requests per second, at least 0.001 (one request in about 17 minutes); null = the configured default' }),
  })
  .openapi('KeyCreate');

export const KeyInfo = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    role: z.enum(ROLES),
    tenant: z.string(),
    rate_limit_per_s: z.number().nullable(),
    created_at: z.string(),
  })
  .openapi('KeyInfo');

export const KeyCreated = KeyInfo.extend({ key: z.string().openapi({ description: 'The key: shown this once, never again' }) }).openapi('KeyCreated');
export const KeyList = z.object({ items: z.array(KeyInfo) }).openapi('KeyList');

/** Date.UTC reads years below 100 as 19xx. */
const YEAR_1 = Date.parse('0001-01-01T00:00:00Z');
const YEAR_10000 = Date.UTC(10_000, 0, 1);
/** NaN (not a time at all) is left to the datetime check's own error. */
const inYears1To9999 = (t: number) => Number.isNaN(t) || (t >= YEAR_1 && t < YEAR_10000);

export const AuditQuery = z.object({
  action: NoNul(128).optional(),
  key_id: z.guid().optional(),
  tenant: Tenant.optional(),
  since: z.iso
    .datetime({ offset: true })
    // PostgreSQL's timestamps run from 4713 BC; a year 0000 or one past 9999 in UTC is refused there.
    .refine((s) => inYears1To9999(Date.parse(s)), { message: 'Input should be a time between the years 0001 and 9999 (UTC)' })
    .optional()
    .openapi({ description: 'ISO 8601 time; only records at or after it' }),
  limit: queryInt(z.int().gte(1).lte(500)).default(50),
  offset: queryInt(z.int().gte(0)).default(0),
});

export const AuditRecord = z
  .object({
    at: z.string(),
    key_id: z.string().nullable(),
    key_name: z.string().nullable(),
    tenant: z.string().nullable(),
    role: z.string().nullable(),
    action: z.string(),
    target: z.string().nullable(),
    status: z.int(),
    client: z.string().nullable(),
    request_id: z.string().nullable(),
    count: z.int().openapi({
      description:
        'How many requests this record stands for: 1 for a change; refusals (401, 403, 429) of one key, or of one client address without a key, for one action and status within a second are one record, with the time, target and request id of the first',
    }),
  })
  .openapi('AuditRecord');

export const AuditPage = z
  .object({ items: z.array(AuditRecord), total: z.int(), limit: z.int(), offset: z.int() })
  .openapi('AuditPage');

export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

export const SecretName = z.string().regex(SECRET_NAME, 'a secret name is 1-128 letters, digits, "_", "." or "-", starting with a letter or "_"');

export const SecretCreate = z
  .strictObject({
    name: SecretName,
    value: secretField(NoNul(65_536)),
    tenant: Tenant.optional().openapi({ description: "Admins only: another tenant's secret" }),
  })
  .openapi('SecretCreate');

export const SecretInfo = z.object({ name: z.string(), tenant: z.string(), created_at: z.string() }).openapi('SecretInfo');
export const SecretList = z.object({ items: z.array(SecretInfo) }).openapi('SecretList');
export const SecretNameParam = z.object({ name: SecretName.openapi({ param: { name: 'name', in: 'path' } }) });
export const TenantQuery = z.object({ tenant: Tenant.optional() });
