DROP INDEX events_ip;
