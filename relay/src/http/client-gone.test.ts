import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ClientGone } from './client-gone.js';

function fakeResponse(writableFinished: boolean) {
  return Object.assign(new EventEmitter(), { writableFinished });
}

describe('ClientGone', () => {
  describe('addEventListener', () => {
    it('calls its listeners once when the response closes before the answer was written', () => {
      const res = fakeResponse(false);
      const gone = new ClientGone(res);
      const heard: string[] = [];
      const removed = () => heard.push('removed');
      gone.addEventListener('abort', () => heard.push('a'));
      gone.addEventListener('abort', removed);
      gone.removeEventListener('abort', removed);
      expect(gone.aborted).toBe(false);
      res.emit('close');
      res.emit('close');
      expect([gone.aborted, heard]).toEqual([true, ['a']]);
    });

    it('never fires when the answer was written before the close', () => {
      const res = fakeResponse(true);
      const gone = new ClientGone(res);
      let heard = 0;
      gone.addEventListener('abort', () => heard++);
      res.emit('close');
      expect([gone.aborted, heard]).toEqual([false, 0]);
    });
  });
});
