import { describe, expect, it } from 'vitest';
import { tableKey } from '../../src/mask/rules.js';
import { KEEP, Masker, parseTransformer, type Transformer } from '../../src/mask/transformers.js';
import { copyColumns, decodeCopyField, encodeCopyField } from '../../src/stores/postgres/copy-masker.js';
import { tableColumns } from '../../src/stores/postgres/ddl-columns.js';

const masker = new Masker('unit-test-key-0123456789');
const t = (spec: unknown) => parseTransformer(spec) as Transformer;

describe('COPY text format', () => {
  it('decodes and encodes every escape, multi-byte characters included', () => {
    expect(decodeCopyField('a\\tb\\nc\\\\d\\re')).toBe('a\tb\nc\\d\re');
    expect(decodeCopyField('caf\\303\\251 \\x41')).toBe('café A');
    expect(decodeCopyField('\\b\\f\\v\\q')).toBe('\b\f\vq');
    for (const text of ['plain', 'tab\there', 'line\nbreak\r\n', 'back\\slash\\n', 'é ü 漢字 🍰', '\\N']) {
      expect(decodeCopyField(encodeCopyField(text))).toBe(text);
    }
    expect(encodeCopyField('\\N')).toBe('\\\\N');
  });
  it('reads the column list of a COPY header, quoted names included', () => {
    expect(copyColumns('COPY public.users (id, email, "Full, ""Name""") FROM stdin;', 'public.users')).toEqual(['id', 'email', 'Full, "Name"']);
  });
  it('reads columns from the CREATE TABLE statements pg_restore writes', () => {
    const ddl = 'CREATE TABLE public.users (\n    id integer NOT NULL,\n    "E-mail" text,\n    CONSTRAINT positive CHECK ((id > 0))\n);\n\nCREATE TABLE "Shop"."Orders" (\n    total numeric(8,2)\n)\nPARTITION BY RANGE (total);\n';
    expect([...tableColumns(ddl)]).toEqual([['public.users', ['id', 'E-mail']], ['Shop.Orders', ['total']]]);
    expect(tableKey('users')).toBe('public.users');
    expect(tableKey('"Shop"."Orders"')).toBe('Shop.Orders');
  });
});

describe('transformers', () => {
  it('are deterministic per key and differ between keys', () => {
    const input = 'Odette Lavande, +33 6 12 34 56 78, odette@grimoire.fr';
    for (const name of ['email', 'name', 'first_name', 'last_name', 'phone', 'address', 'text', 'hash']) {
      const a = masker.mask(t(name), input);
      expect(masker.mask(t(name), input)).toBe(a);
      expect(a).not.toBe(input);
      // Names come from short lists, so another key may pick the same one.
      if (!['first_name', 'last_name', 'name'].includes(name)) expect(new Masker('another-key-0123456789').mask(t(name), input)).not.toBe(a);
    }
  });
  it('keep shapes: e-mail, phone, text length, templates', () => {
    expect(masker.mask(t('email'), ' Chef@Example.COM ')).toBe(masker.mask(t('email'), 'chef@example.com'));
    expect(masker.mask(t('email'), 'a@b.c')).toMatch(/^[a-z]+\.[a-z]+\.[0-9a-f]{16}@example\.invalid$/);
    expect(masker.mask(t('phone'), '+33 (0)6 12-34-56-78')).toMatch(/^\+\d\d \(\d\)\d \d\d-\d\d-\d\d-\d\d$/);
    const long = 'Préchauffer le four. '.repeat(40);
    expect((masker.mask(t('text'), long) as string).length).toBe(long.length);
    expect(masker.mask(t('user-{hash:8}-{digits:4}@example.invalid'), 'x')).toMatch(/^user-[0-9a-f]{8}-\d{4}@example\.invalid$/);
    expect(masker.mask(t({ fixed: 'redacted' }), 'x')).toBe('redacted');
    expect(masker.mask(t('null'), 'x')).toBeNull();
    expect(masker.mask(t('keep'), 'x')).toBe(KEEP);
  });
  it('keeps 10,000 distinct e-mails distinct', () => {
    const out = new Set(Array.from({ length: 10_000 }, (_, i) => masker.mask(t('email'), `user${i}@grimoire.fr`)));
    expect(out.size).toBe(10_000);
  });
  it('names what is wrong with a rule', () => {
    expect(parseTransformer('scramble')).toMatch(/unknown transformer "scramble"/);
    expect(parseTransformer('x-{ssn}')).toMatch(/placeholder \{ssn\}/);
    expect(parseTransformer({ fixed: [1] })).toMatch(/fixed: expects/);
  });
});
