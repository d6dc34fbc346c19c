import { describe, expect, it } from 'vitest';
import { addedUnchecked, keyStatements, splitKeyLists } from '../../src/stores/postgres/foreign-keys.js';

// Lines as pg_restore --list and pg_restore --file=- (15.18) write them.
const LISTING = `;
; Archive created at 2026-12-01 05:37:13 UTC
;
3440; 0 16411 TABLE DATA public recipes postgres
3225; 2606 16413 CONSTRAINT public recipes recipes_pkey postgres
3226; 0 0 PROCEDURAL LANGUAGE - plperl postgres
3281; 2606 16521 FK CONSTRAINT public favorites favorites_recipe_id_fkey postgres
3290; 2606 16600 FK CONSTRAINT public payment payment_customer_id_fkey postgres
`;

const SQL = `--
-- PostgreSQL database dump
--

\\restrict dXab9uahGpgLu8Oz

SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

--
-- Name: favorites favorites_recipe_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.favorites
    ADD CONSTRAINT favorites_recipe_id_fkey FOREIGN KEY (recipe_id) REFERENCES public.recipes(id) ON DELETE CASCADE;


--
-- Name: payment payment_customer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE public.payment
    ADD CONSTRAINT payment_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customer(customer_id);


--
-- PostgreSQL database dump complete
--

\\unrestrict dXab9uahGpgLu8Oz

`;

describe('foreign keys added after a parallel load', () => {
  it('splits the list: every entry but the keys, and the keys alone (comments kept in both)', () => {
    const lists = splitKeyLists(LISTING);
    expect(lists?.count).toBe(2);
    expect(lists?.withoutKeys.split('\n').filter((l) => !l.startsWith(';') && l !== '')).toEqual([
      '3440; 0 16411 TABLE DATA public recipes postgres', '3225; 2606 16413 CONSTRAINT public recipes recipes_pkey postgres',
      '3226; 0 0 PROCEDURAL LANGUAGE - plperl postgres',
    ]);
    expect(lists?.keysOnly.split('\n').filter((l) => !l.startsWith(';') && l !== '')).toEqual([
      '3281; 2606 16521 FK CONSTRAINT public favorites favorites_recipe_id_fkey postgres', '3290; 2606 16600 FK CONSTRAINT public payment payment_customer_id_fkey postgres',
    ]);
  });

  it('leaves the keys to pg_restore for a dump without keys, or with a comment on a constraint', () => {
    expect(splitKeyLists('3440; 0 16411 TABLE DATA public recipes postgres\n')).toBeUndefined();
    expect(splitKeyLists(`${LISTING}3300; 0 0 COMMENT public CONSTRAINT favorites_recipe_id_fkey ON favorites postgres\n`)).toBeUndefined();
    expect(splitKeyLists(`${LISTING}3301; 3466 16700 EVENT TRIGGER - log_ddl postgres\n`)).toBeUndefined();
  });

  it('reads one statement per key, without the comments, settings or psql meta-commands around them', () => {
    expect(keyStatements(SQL)).toEqual([
      'ALTER TABLE ONLY public.favorites\n    ADD CONSTRAINT favorites_recipe_id_fkey FOREIGN KEY (recipe_id) REFERENCES public.recipes(id) ON DELETE CASCADE;',
      'ALTER TABLE public.payment\n    ADD CONSTRAINT payment_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customer(customer_id);',
    ]);
  });

  it('ends a statement at its first semicolon outside quotes: a quoted name may hold a line break, "--", "\\" or ";"', () => {
    const odd = 'ALTER TABLE ONLY public."line\n-- break"\n    ADD CONSTRAINT "k;\n\\x" FOREIGN KEY ("a""\n--b") REFERENCES public.parent(id);';
    const sql = `--\n-- Name: line -- break k; Type: FK CONSTRAINT; Schema: public; Owner: postgres\n--\n\n${odd}\n\n\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict x\n`;
    expect(keyStatements(sql)).toEqual([odd]);
  });

  it('adds a key on an ordinary table NOT VALID; one on a partitioned table, or one the dump keeps unchecked, stays as written', () => {
    const [ordinary, partitioned] = keyStatements(SQL);
    expect(addedUnchecked(ordinary ?? '')).toBe('ALTER TABLE ONLY public.favorites\n    ADD CONSTRAINT favorites_recipe_id_fkey FOREIGN KEY (recipe_id) REFERENCES public.recipes(id) ON DELETE CASCADE NOT VALID;');
    expect(addedUnchecked(partitioned ?? '')).toBeUndefined();
    expect(addedUnchecked('ALTER TABLE ONLY public.loose\n    ADD CONSTRAINT loose_fk FOREIGN KEY (p) REFERENCES public.parent(id) NOT VALID;')).toBeUndefined();
    expect(addedUnchecked('ALTER TABLE ONLY public.c\n    ADD CONSTRAINT c_fk FOREIGN KEY (p) REFERENCES public.parent(id) NOT ENFORCED;')).toBeUndefined();
    expect(addedUnchecked('ALTER TABLE ONLY "odd ""t"""\n    ADD CONSTRAINT "k" FOREIGN KEY (p) REFERENCES public.parent(id) DEFERRABLE INITIALLY DEFERRED;'))
      .toBe('ALTER TABLE ONLY "odd ""t"""\n    ADD CONSTRAINT "k" FOREIGN KEY (p) REFERENCES public.parent(id) DEFERRABLE INITIALLY DEFERRED NOT VALID;');
  });
});
