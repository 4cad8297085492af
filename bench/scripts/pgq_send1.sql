-- single send per transaction
SELECT pgq.insert_event('bench', 'ev', :body);
