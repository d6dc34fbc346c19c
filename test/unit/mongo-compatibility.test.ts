import { describe, expect, it } from 'vitest';
import { featuresOf, incompatibilities, parseFeatures, renderFeatures } from '../../src/stores/mongo/compatibility.js';

const everything = featuresOf({
  collectionName: 'c',
  options: { timeseries: { timeField: 't', bucketMaxSpanSeconds: 60, bucketRoundingSeconds: 60 }, expireAfterSeconds: 60, clusteredIndex: { key: { _id: 1 }, unique: true }, changeStreamPreAndPostImages: { enabled: true }, recordPreImages: true },
  indexes: [
    { key: { _id: 1 }, name: '_id_' },
    { key: { a: 1 }, name: 'a_hidden', hidden: true },
    { key: { b: 1 }, name: 'b_prepare', prepareUnique: true },
    { key: { c: 1, '$**': 1 }, name: 'c_wild' },
    { key: { '$**': 1 }, name: 'all_wild' },
    { key: { loc: 'geoHaystack', type: 1 }, name: 'hay', bucketSize: 1 },
  ],
}, 'c');

describe('which server versions take which collection options and index kinds', () => {
  it('finds every version-dependent option, and nothing in a plain collection', () => {
    expect(everything.map((f) => f.option)).toEqual([
      'timeseries', 'expireAfterSeconds', 'timeseries.bucketMaxSpanSeconds', 'timeseries.bucketRoundingSeconds', 'clusteredIndex', 'changeStreamPreAndPostImages', 'recordPreImages',
      'index a_hidden: hidden', 'index b_prepare: prepareUnique', 'index c_wild: compound wildcard key', 'index hay: geoHaystack',
    ]);
    expect(featuresOf({ collectionName: 'p', options: { capped: true, size: 10, collation: { locale: 'fr' }, validator: { a: 1 } }, indexes: [{ key: { x: 'text' }, name: 'x' }, { key: { y: '2dsphere' }, name: 'y', partialFilterExpression: { y: { $exists: true } } }, { key: { z: 1 }, name: 'z', expireAfterSeconds: 5 }] }, 'p')).toEqual([]);
  });

  it.each([
    ['4.4.29', ['timeseries', 'expireAfterSeconds', 'timeseries.bucketMaxSpanSeconds', 'timeseries.bucketRoundingSeconds', 'clusteredIndex', 'changeStreamPreAndPostImages', 'index b_prepare: prepareUnique', 'index c_wild: compound wildcard key']],
    ['5.0.14', ['timeseries.bucketMaxSpanSeconds', 'timeseries.bucketRoundingSeconds', 'clusteredIndex', 'changeStreamPreAndPostImages', 'index b_prepare: prepareUnique', 'index c_wild: compound wildcard key', 'index hay: geoHaystack']],
    ['5.3.0', ['timeseries.bucketMaxSpanSeconds', 'timeseries.bucketRoundingSeconds', 'changeStreamPreAndPostImages', 'index b_prepare: prepareUnique', 'index c_wild: compound wildcard key', 'index hay: geoHaystack']],
    ['6.0.12', ['timeseries.bucketMaxSpanSeconds', 'timeseries.bucketRoundingSeconds', 'index c_wild: compound wildcard key', 'index hay: geoHaystack']],
    ['6.3.1', ['recordPreImages', 'index c_wild: compound wildcard key', 'index hay: geoHaystack']],
    ['8.0.4', ['recordPreImages', 'index hay: geoHaystack']],
  ])('MongoDB %s refuses exactly these', (version, refused) => {
    expect(incompatibilities(everything, version).map((line) => line.replace(/^collection c: /, '').replace(/ (needs|was removed in) MongoDB .*$/, ''))).toEqual(refused);
  });

  it('a server that does not say its version is not second-guessed', () => {
    expect(incompatibilities(everything, '?')).toEqual([]);
  });

  it('reads back what the manifest records, leaving out rules it does not know', () => {
    expect(parseFeatures(renderFeatures(everything))).toEqual(everything);
    expect(parseFeatures('[["c","fromTheFuture","x"],["d","hiddenIndex","index i: hidden"]]')).toEqual([{ collection: 'd', rule: 'hiddenIndex', option: 'index i: hidden' }]);
    expect(parseFeatures('not json')).toEqual([]);
    expect(parseFeatures(undefined)).toEqual([]);
  });
});
