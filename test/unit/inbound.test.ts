import { describe, expect, it } from 'vitest';
import { inboundOf } from '../../runtime/core/inbound.ts';
import { fifoRecord } from '../support/records.ts';

/** A FIFO record whose attributes are replaced by `attributes` (a value of `undefined` removes one). */
function withAttributes(attributes: Record<string, string | undefined>) {
  const record = fifoRecord('counter/c1', '7', { type: 'COUNT' }, { messageId: 'm-1' });
  const merged: Record<string, string | undefined> = { ...record.attributes, ...attributes };
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  return { ...record, attributes: merged as unknown as typeof record.attributes };
}

describe('inboundOf', () => {
  it('takes the message id, group id and body as they came', () => {
    const record = fifoRecord('counter/c1', '7', '{"type":"COUNT"}', { messageId: 'm-1', receiveCount: 3 });

    expect(inboundOf(record)).toEqual({
      messageId: 'm-1',
      groupId: 'counter/c1',
      seq: 7n,
      sequenceNumber: '7',
      body: '{"type":"COUNT"}',
      receiveCount: 3,
      redriveOf: undefined,
    });
  });

  it('reads the settle-redrive-of message attribute of a redriven event, and nothing from an empty one', () => {
    const record = fifoRecord('counter/c1', '7', { type: 'COUNT' });
    const attribute = (stringValue: string) => ({ stringValue, stringListValues: [], binaryListValues: [], dataType: 'String' });

    expect(inboundOf({ ...record, messageAttributes: { 'settle-redrive-of': attribute('letter-1') } }).redriveOf).toBe('letter-1');
    expect(inboundOf({ ...record, messageAttributes: { 'settle-redrive-of': attribute('') } }).redriveOf).toBeUndefined();
    expect(inboundOf(record).redriveOf).toBeUndefined();
  });

  it('gives an empty group id when the record has no MessageGroupId', () => {
    expect(inboundOf(withAttributes({ MessageGroupId: undefined })).groupId).toBe('');
  });

  it('keeps the SequenceNumber verbatim (leading zeros included) and reads it as a big integer', () => {
    const inbound = inboundOf(withAttributes({ SequenceNumber: '00000000000000000005' }));

    expect(inbound.sequenceNumber).toBe('00000000000000000005');
    expect(inbound.seq).toBe(5n);
  });

  it('reads a 40-digit SequenceNumber exactly, beyond any JS number', () => {
    const digits = '1234567890'.repeat(4);

    expect(inboundOf(withAttributes({ SequenceNumber: digits })).seq).toBe(BigInt(digits));
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['41 digits long', '1'.repeat(41)],
    ['letters before the digits', 'a5'],
    ['letters after the digits', '5a'],
    ['negative', '-5'],
    ['a fraction', '5.0'],
    ['padded with a space', ' 5'],
  ])('has no usable sequence number when the SequenceNumber is %s, and keeps the raw text', (_, raw) => {
    const inbound = inboundOf(withAttributes({ SequenceNumber: raw }));

    expect(inbound.seq).toBeUndefined();
    expect(inbound.sequenceNumber).toBe(raw ?? '');
  });

  it.each([
    ['missing', undefined],
    ['not a number', 'soon'],
    ['zero', '0'],
    ['negative', '-2'],
    ['a fraction', '2.5'],
    ['empty', ''],
  ])('counts the receive as the first when ApproximateReceiveCount is %s', (_, raw) => {
    expect(inboundOf(withAttributes({ ApproximateReceiveCount: raw })).receiveCount).toBe(1);
  });

  it('takes ApproximateReceiveCount as a whole number when it is one', () => {
    expect(inboundOf(withAttributes({ ApproximateReceiveCount: '5' })).receiveCount).toBe(5);
    expect(inboundOf(withAttributes({ ApproximateReceiveCount: '2' })).receiveCount).toBe(2);
  });
});
