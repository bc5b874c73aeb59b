DROP INDEX tokens_check;
