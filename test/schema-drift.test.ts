import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import wasm from '@prisma/prisma-schema-wasm';
import type pg from 'pg';

import { createTestDatabase, type TestDatabase } from './helpers/database.js';

/*
 * Proves that prisma/schema.prisma and the database the migrations build describe the same thing.
 * Both sides are reduced to sorted lines of plain text ("users.email character varying(255) null"),
 * one line per fact, so a disagreement fails with the lines that only one side has.
 */

const SCHEMA_FILE = new URL('../prisma/schema.prisma', import.meta.url);

/**
 * What the database may hold although schema.prisma cannot express it. Every entry is spelled as
 * PostgreSQL prints it back, so a change to one of these objects in SQL also fails the test.
 */
const BEYOND_PRISMA = {
  relations: [
    // Prisma Migrate's own history, written by src/db/migrator.ts; test/migrate.test.ts checks it.
    'table _prisma_migrations',
  ],
  constraints: [
    // Usernames and emails are stored lowercased: with these the plain unique indexes on the two
    // columns refuse "Alice" beside "alice", whoever writes. Prisma has no CHECK constraints.
    'users check users_username_lowercase CHECK (((username)::text = lower((username)::text)))',
    'users check users_email_lowercase CHECK (((email)::text = lower((email)::text)))',
  ],
  routines: [
    // updated_at follows every UPDATE, raw SQL included. Prisma has no triggers or functions.
    'function set_updated_at() returns trigger language plpgsql',
    'trigger CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON public.users ' +
      'FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
  ],
} as const;

interface Facts {
  relations: string[];
  columns: string[];
  constraints: string[];
  indexes: string[];
  routines: string[];
}

let t: TestDatabase;
let expected: Facts;
let actual: Facts;
before(async () => {
  t = await createTestDatabase();
  expected = prismaFacts(await readFile(SCHEMA_FILE, 'utf8'));
  actual = await databaseFacts(t.db.pool);
});
after(async () => {
  await t.drop();
});

describe('prisma/schema.prisma and the migrated database', () => {
  it('have the same tables, and no other relation but the migration history', () => {
    assertAgree('relations', expected.relations, actual.relations);
  });

  it('have the same columns, with the same names, types, nullability and defaults', () => {
    assertAgree('columns', expected.columns, actual.columns);
  });

  it('have the same primary and foreign keys, and no other constraint but the allowed checks', () => {
    assertAgree('constraints', expected.constraints, actual.constraints);
  });

  it('have the same indexes, with the same names, columns, sort order and predicate', () => {
    assertAgree('indexes', expected.indexes, actual.indexes);
  });

  it('hold no extension, function, trigger or type beyond the allowed updated_at trigger', () => {
    assertAgree('routines', expected.routines, actual.routines);
  });
});

describe('the drift comparison', () => {
  it("reports each change made behind Prisma's back, on the side where it is", async () => {
    const client = await t.db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`
        ALTER TABLE users ALTER COLUMN email TYPE VARCHAR(100);
        CREATE INDEX idx_users_lower_username ON users (lower(username));
        ALTER TABLE audit_logs DROP CONSTRAINT audit_logs_user_id_fkey;
        ALTER TABLE audit_logs ADD CONSTRAINT audit_logs_user_id_fkey
          FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE ON UPDATE CASCADE;
        CREATE TABLE scratch (id INTEGER);
        CREATE FUNCTION scratch_fn() RETURNS integer LANGUAGE sql AS 'SELECT 1';
      `);
      const drifted = await databaseFacts(client);
      const auditLogsToUsers =
        'audit_logs foreign key audit_logs_user_id_fkey (user_id) references users(id)';

      assert.deepEqual(differences(expected.columns, drifted.columns), {
        onlyInDatabase: ['scratch.id integer null', 'users.email character varying(100) null'],
        onlyInSchema: ['users.email character varying(255) null'],
      });
      assert.deepEqual(differences(expected.indexes, drifted.indexes).onlyInDatabase, [
        'users index idx_users_lower_username btree (lower(username::text))',
      ]);
      assert.deepEqual(differences(expected.constraints, drifted.constraints), {
        onlyInDatabase: [`${auditLogsToUsers} on delete cascade on update cascade`],
        onlyInSchema: [`${auditLogsToUsers} on delete set null on update cascade`],
      });
      assert.deepEqual(differences(expected.relations, drifted.relations).onlyInDatabase, ['table scratch']);
      assert.deepEqual(differences(expected.routines, drifted.routines).onlyInDatabase, [
        'function scratch_fn() returns integer language sql',
      ]);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Comparison

interface Differences {
  onlyInDatabase: string[];
  onlyInSchema: string[];
}

function differences(expectedLines: readonly string[], actualLines: readonly string[]): Differences {
  return {
    onlyInDatabase: actualLines.filter((line) => !expectedLines.includes(line)).sort(),
    onlyInSchema: expectedLines.filter((line) => !actualLines.includes(line)).sort(),
  };
}

/** Fails with the lines only one side has, marked + (database) and - (schema.prisma). */
function assertAgree(kind: keyof Facts, expectedLines: string[], actualLines: string[]): void {
  const { onlyInDatabase, onlyInSchema } = differences(expectedLines, actualLines);
  if (onlyInDatabase.length === 0 && onlyInSchema.length === 0) return;

  assert.fail(
    [
      `${kind}: prisma/schema.prisma and the migrated database disagree`,
      '  only in the database:',
      ...onlyInDatabase.map((line) => `    + ${line}`),
      '  only in prisma/schema.prisma (or its allow-list in this test):',
      ...onlyInSchema.map((line) => `    - ${line}`),
    ].join('\n'),
  );
}

// ---------------------------------------------------------------------------------------------
// The Prisma side, from the DMMF

interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: 'scalar' | 'object' | 'enum' | 'unsupported';
  type: string;
  isList: boolean;
  isRequired: boolean;
  nativeType?: [string, string[]] | null;
  default?: unknown;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
  relationOnUpdate?: string;
}

interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
}

interface DmmfIndex {
  model: string;
  type: 'id' | 'unique' | 'normal' | 'fulltext';
  dbName?: string;
  algorithm?: string;
  fields: { name: string; sortOrder?: 'asc' | 'desc' }[];
}

interface DmmfEnum {
  name: string;
  dbName?: string | null;
  values: { name: string; dbName?: string | null }[];
}

interface Dmmf {
  datamodel: { models: DmmfModel[]; enums: DmmfEnum[]; indexes: DmmfIndex[] };
}

/** Column types Prisma creates for a field without @db.*, as format_type() prints them. */
const SCALAR_TYPES: Record<string, string> = {
  Int: 'integer',
  BigInt: 'bigint',
  Float: 'double precision',
  Decimal: 'numeric(65,30)',
  String: 'text',
  Boolean: 'boolean',
  DateTime: 'timestamp(3) without time zone',
  Json: 'jsonb',
  Bytes: 'bytea',
};

/** The @db.* native types this schema may use, as format_type() prints them. */
const NATIVE_TYPES: Record<string, (args: string[]) => string> = {
  VarChar: ([length]) => (length ? `character varying(${length})` : 'character varying'),
  Char: ([length]) => `character(${length ?? 1})`,
  Text: () => 'text',
  Integer: () => 'integer',
  SmallInt: () => 'smallint',
  BigInt: () => 'bigint',
  Boolean: () => 'boolean',
  Uuid: () => 'uuid',
  Inet: () => 'inet',
  JsonB: () => 'jsonb',
  Json: () => 'json',
  Date: () => 'date',
  Timestamptz: ([precision]) => `timestamp${precision ? `(${precision})` : ''} with time zone`,
  Timestamp: ([precision]) => `timestamp${precision ? `(${precision})` : ''} without time zone`,
  Decimal: ([precision, scale]) => (precision ? `numeric(${precision},${scale ?? 0})` : 'numeric'),
};

const REFERENTIAL_ACTIONS: Record<string, string> = {
  Cascade: 'cascade',
  SetNull: 'set null',
  Restrict: 'restrict',
  NoAction: 'no action',
  SetDefault: 'set default',
};

function prismaFacts(schemaText: string): Facts {
  const dmmf = JSON.parse(
    wasm.get_dmmf(JSON.stringify({ prismaSchema: [['schema.prisma', schemaText]], noColor: true })),
  ) as Dmmf;
  const extras = readSchemaExtras(schemaText);
  const { models, enums, indexes } = dmmf.datamodel;
  const model = (name: string) => models.find((m) => m.name === name) as DmmfModel;

  return {
    relations: [...models.map((m) => `table ${tableOf(m)}`), ...BEYOND_PRISMA.relations],
    columns: models.flatMap((m) => m.fields.filter(isColumn).map((f) => prismaColumn(m, f, enums))),
    constraints: [
      ...indexes
        .filter((index) => index.type === 'id')
        .map((index) => prismaPrimaryKey(model(index.model), index)),
      ...models.flatMap((m) =>
        m.fields.filter(isForeignKey).map((f) => prismaForeignKey(m, f, model, extras)),
      ),
      ...BEYOND_PRISMA.constraints,
    ],
    indexes: indexes
      .filter((index) => index.type === 'unique' || index.type === 'normal')
      .map((index) => prismaIndex(model(index.model), index, extras)),
    routines: [
      ...enums.map(
        (e) => `enum ${e.dbName ?? e.name} (${e.values.map((v) => v.dbName ?? v.name).join(', ')})`,
      ),
      ...BEYOND_PRISMA.routines,
    ],
  };
}

const tableOf = (m: DmmfModel) => m.dbName ?? m.name;
const columnOf = (m: DmmfModel, fieldName: string) => {
  const field = m.fields.find((f) => f.name === fieldName) as DmmfField;
  return field.dbName ?? field.name;
};
const isColumn = (f: DmmfField) => f.kind === 'scalar' || f.kind === 'enum';
const isForeignKey = (f: DmmfField) => f.kind === 'object' && (f.relationFromFields?.length ?? 0) > 0;

function prismaColumn(m: DmmfModel, f: DmmfField, enums: DmmfEnum[]): string {
  const type = `${prismaType(f, enums)}${f.isList ? '[]' : ''}`;
  const fallback = prismaDefault(f.default);
  const line = `${tableOf(m)}.${f.dbName ?? f.name} ${type} ${f.isRequired ? 'not null' : 'null'}`;
  return fallback === undefined ? line : `${line} default ${fallback}`;
}

function prismaType(f: DmmfField, enums: DmmfEnum[]): string {
  if (f.kind === 'enum') {
    const target = enums.find((e) => e.name === f.type);
    return target?.dbName ?? f.type;
  }
  if (f.nativeType) {
    const [name, args] = f.nativeType;
    const render = NATIVE_TYPES[name];
    if (!render) throw new Error(`teach test/schema-drift.test.ts the native type @db.${name}`);
    return render(args);
  }
  const type = SCALAR_TYPES[f.type];
  if (!type) throw new Error(`teach test/schema-drift.test.ts the Prisma type ${f.type}`);
  return type;
}

/** A @default as the database keeps it; undefined when Prisma keeps no default in the database. */
function prismaDefault(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return `'${value.replaceAll("'", "''")}'`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);

  const call = value as { name: string; args: unknown[] };
  if (call.name === 'autoincrement') return 'autoincrement()';
  if (call.name === 'now') return 'now()';
  if (call.name === 'dbgenerated') return String(call.args[0]);
  // uuid(), cuid(), nanoid() and ulid() are filled in by Prisma Client, not by the database.
  return undefined;
}

function prismaPrimaryKey(m: DmmfModel, index: DmmfIndex): string {
  const columns = index.fields.map((f) => columnOf(m, f.name));
  return `${tableOf(m)} primary key ${index.dbName ?? `${tableOf(m)}_pkey`} (${columns.join(', ')})`;
}

function prismaForeignKey(
  m: DmmfModel,
  f: DmmfField,
  model: (name: string) => DmmfModel,
  extras: SchemaExtras,
): string {
  const target = model(f.type);
  const from = (f.relationFromFields ?? []).map((name) => columnOf(m, name));
  const to = (f.relationToFields ?? []).map((name) => columnOf(target, name));
  const name = extras.relationMaps.get(`${m.name}.${f.name}`) ?? `${tableOf(m)}_${from.join('_')}_fkey`;
  // Prisma's defaults: Restrict when the scalar fields are required, SetNull when optional; Cascade on update.
  const required = (f.relationFromFields ?? []).every(
    (name) => m.fields.find((field) => field.name === name)?.isRequired,
  );
  const onDelete = f.relationOnDelete ?? (required ? 'Restrict' : 'SetNull');
  const onUpdate = f.relationOnUpdate ?? 'Cascade';
  return (
    `${tableOf(m)} foreign key ${name} (${from.join(', ')}) references ${tableOf(target)}(${to.join(', ')})` +
    ` on delete ${REFERENTIAL_ACTIONS[onDelete]} on update ${REFERENTIAL_ACTIONS[onUpdate]}`
  );
}

function prismaIndex(m: DmmfModel, index: DmmfIndex, extras: SchemaExtras): string {
  const columns = index.fields.map((f) => columnOf(m, f.name));
  const suffix = index.type === 'unique' ? 'key' : 'idx';
  const name = index.dbName ?? `${tableOf(m)}_${columns.join('_')}_${suffix}`;
  const keys = index.fields.map((f, i) => `${columns[i]}${f.sortOrder === 'desc' ? ' desc' : ''}`);
  const method = (index.algorithm ?? 'BTree').toLowerCase();
  const predicate = extras.predicates.get(name);

  const kind = index.type === 'unique' ? 'unique index' : 'index';
  const line = `${tableOf(m)} ${kind} ${name} ${method} (${keys.join(', ')})`;
  return predicate === undefined ? line : `${line} where ${predicate}`;
}

interface SchemaExtras {
  /** Partial index predicates by index name. */
  predicates: Map<string, string>;
  /** Foreign key names given with @relation(map: ...), by "Model.field". */
  relationMaps: Map<string, string>;
}

/**
 * The DMMF of Prisma 7.10 leaves out two things this test needs: the `where: raw("...")` of a
 * partial index and the `map:` of a relation. They are read from the schema text, one attribute per
 * line as `prisma format` writes them. A partial index needs a `map:` name here, and its predicate
 * must be spelled as PostgreSQL prints it back (pg_get_expr).
 */
function readSchemaExtras(text: string): SchemaExtras {
  const extras: SchemaExtras = { predicates: new Map(), relationMaps: new Map() };
  let model = '';
  for (const line of text.split('\n')) {
    model = /^\s*model\s+(\w+)\s*\{/.exec(line)?.[1] ?? model;

    if (/@@(index|unique)\(/.test(line) && line.includes('where:')) {
      const predicate = /where:\s*raw\("((?:[^"\\]|\\.)*)"\)/.exec(line)?.[1];
      const name = /map:\s*"([^"]+)"/.exec(line)?.[1];
      if (predicate === undefined || name === undefined) {
        throw new Error(`give this partial index a map: name and a raw("...") predicate: ${line.trim()}`);
      }
      extras.predicates.set(name, unwrap(predicate.replaceAll('\\"', '"')));
    }

    const relation = /^\s*(\w+)\s.*@relation\(([^)]*)\)/.exec(line);
    const map = relation && /map:\s*"([^"]+)"/.exec(relation[2] ?? '')?.[1];
    if (relation && map) extras.relationMaps.set(`${model}.${relation[1]}`, map);
  }
  return extras;
}

// ---------------------------------------------------------------------------------------------
// The database side, from pg_catalog

/** SQL that holds for every schema a user can create things in. */
function userSchema(column: string): string {
  return `(${column} NOT IN ('pg_catalog', 'information_schema')
           AND ${column} NOT LIKE 'pg\\_toast%' AND ${column} NOT LIKE 'pg\\_temp\\_%')`;
}

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

async function databaseFacts(db: Queryable): Promise<Facts> {
  // One query at a time: a transaction's client may run only one.
  return {
    relations: await databaseRelations(db),
    columns: await databaseColumns(db),
    constraints: await databaseConstraints(db),
    indexes: await databaseIndexes(db),
    routines: await databaseRoutines(db),
  };
}

const RELATION_KINDS: Record<string, string> = {
  r: 'table',
  p: 'partitioned table',
  v: 'view',
  m: 'materialized view',
  f: 'foreign table',
  S: 'sequence',
};

/** Tables, views and sequences; a sequence owned by a serial or identity column is the column's. */
async function databaseRelations(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ schema: string; name: string; kind: string }>(`
    SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE ${userSchema('n.nspname')}
       AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
       AND NOT EXISTS (
             SELECT 1 FROM pg_depend d
              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))`);
  const { rows: schemas } = await db.query<{ name: string }>(`
    SELECT nspname AS name FROM pg_namespace WHERE ${userSchema('nspname')} AND nspname <> 'public'`);

  return [
    ...rows.map((row) => `${RELATION_KINDS[row.kind]} ${qualified(row.schema, row.name)}`),
    ...schemas.map((row) => `schema ${row.name}`),
  ];
}

async function databaseColumns(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{
    table: string;
    column: string;
    type: string;
    notNull: boolean;
    fallback: string | null;
    ownsSequence: boolean;
    identity: string;
    generated: string;
  }>(`
    SELECT ${qualifiedSql('n.nspname', 'c.relname')} AS "table",
           a.attname AS "column",
           format_type(a.atttypid, a.atttypmod) AS "type",
           a.attnotnull AS "notNull",
           pg_get_expr(d.adbin, d.adrelid) AS "fallback",
           pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname) IS NOT NULL
             AS "ownsSequence",
           a.attidentity AS "identity",
           a.attgenerated AS "generated"
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE ${userSchema('n.nspname')}
       AND c.relkind IN ('r', 'p')
       AND c.relname <> '_prisma_migrations'
       AND a.attnum > 0
       AND NOT a.attisdropped`);

  return rows.map((row) => {
    const fallback = databaseDefault(row);
    const line = `${row.table}.${row.column} ${row.type} ${row.notNull ? 'not null' : 'null'}`;
    return fallback === undefined ? line : `${line} default ${fallback}`;
  });
}

/** A column default in the spelling prismaDefault() uses. */
function databaseDefault(row: {
  fallback: string | null;
  ownsSequence: boolean;
  identity: string;
  generated: string;
}): string | undefined {
  if (row.identity !== '') return 'identity';
  if (row.generated !== '') return `generated ${row.fallback}`;
  if (row.fallback === null) return undefined;
  if (row.ownsSequence && /^nextval\('.*'::regclass\)$/.test(row.fallback)) return 'autoincrement()';
  if (row.fallback === 'CURRENT_TIMESTAMP' || row.fallback === 'now()') return 'now()';
  // '5'::integer, 'x'::character varying: Prisma writes the literal without the cast.
  return row.fallback.replace(/^('(?:[^']|'')*')::[\w\s]+(\(\d+\))?$/, '$1');
}

/** pg_constraint.confdeltype / confupdtype, in the words REFERENTIAL_ACTIONS uses. */
const FK_ACTIONS: Record<string, string> = {
  a: 'no action',
  r: 'restrict',
  c: 'cascade',
  n: 'set null',
  d: 'set default',
};

const CONSTRAINT_KINDS: Record<string, string> = {
  c: 'check',
  u: 'unique constraint',
  x: 'exclusion constraint',
  t: 'constraint trigger',
};

async function databaseConstraints(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{
    table: string;
    name: string;
    kind: string;
    columns: string[];
    target: string | null;
    targetColumns: string[];
    onDelete: string;
    onUpdate: string;
    definition: string;
  }>(`
    SELECT ${qualifiedSql('n.nspname', 't.relname')} AS "table",
           co.conname AS "name",
           co.contype AS "kind",
           ARRAY(SELECT a.attname::text FROM unnest(co.conkey) WITH ORDINALITY AS k(attnum, position)
                   JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.attnum
                  ORDER BY k.position) AS "columns",
           ${qualifiedSql('fn.nspname', 'ft.relname')} AS "target",
           ARRAY(SELECT a.attname::text FROM unnest(co.confkey) WITH ORDINALITY AS k(attnum, position)
                   JOIN pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k.attnum
                  ORDER BY k.position) AS "targetColumns",
           co.confdeltype AS "onDelete",
           co.confupdtype AS "onUpdate",
           pg_get_constraintdef(co.oid) AS "definition"
      FROM pg_constraint co
      JOIN pg_class t ON t.oid = co.conrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      LEFT JOIN pg_class ft ON ft.oid = co.confrelid
      LEFT JOIN pg_namespace fn ON fn.oid = ft.relnamespace
     WHERE ${userSchema('n.nspname')}
       AND t.relname <> '_prisma_migrations'
       -- PostgreSQL 18 lists NOT NULL as constraints; the column facts already cover them.
       AND co.contype <> 'n'`);

  return rows.map((row) => {
    if (row.kind === 'p') return `${row.table} primary key ${row.name} (${row.columns.join(', ')})`;
    if (row.kind === 'f') {
      return (
        `${row.table} foreign key ${row.name} (${row.columns.join(', ')})` +
        ` references ${row.target}(${row.targetColumns.join(', ')})` +
        ` on delete ${FK_ACTIONS[row.onDelete]} on update ${FK_ACTIONS[row.onUpdate]}`
      );
    }
    return `${row.table} ${CONSTRAINT_KINDS[row.kind] ?? row.kind} ${row.name} ${row.definition}`;
  });
}

/** Every index but a primary key's (which the constraint facts cover). */
async function databaseIndexes(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{
    table: string;
    name: string;
    unique: boolean;
    method: string;
    keys: string[];
    options: number[];
    included: string[];
    predicate: string | null;
  }>(`
    SELECT ${qualifiedSql('n.nspname', 't.relname')} AS "table",
           i.relname AS "name",
           x.indisunique AS "unique",
           am.amname AS "method",
           ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true)
                   FROM generate_series(1, x.indnkeyatts) AS k ORDER BY k) AS "keys",
           x.indoption::int2[] AS "options",
           ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true)
                   FROM generate_series(x.indnkeyatts + 1, x.indnatts) AS k ORDER BY k) AS "included",
           pg_get_expr(x.indpred, x.indrelid) AS "predicate"
      FROM pg_index x
      JOIN pg_class i ON i.oid = x.indexrelid
      JOIN pg_class t ON t.oid = x.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      JOIN pg_am am ON am.oid = i.relam
     WHERE ${userSchema('n.nspname')}
       AND t.relname <> '_prisma_migrations'
       AND NOT x.indisprimary`);

  return rows.map((row) => {
    const keys = row.keys.map((key, i) => `${key}${sortOrder(row.options[i] ?? 0)}`);
    const kind = row.unique ? 'unique index' : 'index';
    let line = `${row.table} ${kind} ${row.name} ${row.method} (${keys.join(', ')})`;
    if (row.included.length > 0) line += ` include (${row.included.join(', ')})`;
    if (row.predicate !== null) line += ` where ${unwrap(row.predicate)}`;
    return line;
  });
}

/** indoption bit 0 is DESC, bit 1 NULLS FIRST; only a non-default NULLS placement is spelled out. */
function sortOrder(option: number): string {
  const descending = (option & 1) === 1;
  const nullsFirst = (option & 2) === 2;
  const order = descending ? ' desc' : '';
  if (nullsFirst === descending) return order;
  return `${order} nulls ${nullsFirst ? 'first' : 'last'}`;
}

/** Functions, triggers, extensions and types, each kind from one part of the UNION. */
async function databaseRoutines(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ line: string }>(`
    SELECT format('%s %s(%s) returns %s language %s',
                  CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
                  ${qualifiedSql('n.nspname', 'p.proname')},
                  pg_get_function_identity_arguments(p.oid),
                  pg_get_function_result(p.oid),
                  l.lanname) AS line
      FROM pg_proc p
      JOIN pg_namespace n ON n.oid = p.pronamespace
      JOIN pg_language l ON l.oid = p.prolang
     WHERE ${userSchema('n.nspname')}
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(tg.oid)
      FROM pg_trigger tg
     WHERE NOT tg.tgisinternal
    UNION ALL
    -- plpgsql comes with every PostgreSQL database; any other extension was added on purpose.
    SELECT 'extension ' || extname
      FROM pg_extension
     WHERE extname <> 'plpgsql'
    UNION ALL
    SELECT CASE ty.typtype
             WHEN 'e' THEN format('enum %s (%s)', ${qualifiedSql('n.nspname', 'ty.typname')},
                                  (SELECT string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder)
                                     FROM pg_enum e WHERE e.enumtypid = ty.oid))
             ELSE format('type %s (%s)', ${qualifiedSql('n.nspname', 'ty.typname')}, ty.typtype)
           END
      FROM pg_type ty
      JOIN pg_namespace n ON n.oid = ty.typnamespace
     WHERE ${userSchema('n.nspname')}
       AND ty.typrelid = 0
       AND ty.typcategory <> 'A'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = ty.oid AND d.deptype = 'e')`);
  return rows.map((row) => row.line);
}

/** "name" in public, "schema.name" elsewhere, as this test spells both sides. */
function qualified(schema: string, name: string): string {
  return schema === 'public' ? name : `${schema}.${name}`;
}

function qualifiedSql(schema: string, name: string): string {
  return `CASE WHEN ${schema} = 'public' THEN ${name}::text ELSE ${schema} || '.' || ${name} END`;
}

/** pg_get_expr wraps some predicates in one pair of parentheses; raw("...") need not. */
function unwrap(expression: string): string {
  if (!expression.startsWith('(') || !expression.endsWith(')')) return expression;
  let depth = 0;
  for (let i = 0; i < expression.length - 1; i += 1) {
    depth += expression[i] === '(' ? 1 : expression[i] === ')' ? -1 : 0;
    if (depth === 0) return expression; // the first parenthesis closes before the end
  }
  return expression.slice(1, -1);
}
