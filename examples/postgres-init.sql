-- The example system's second database: each service keeps its records in a database of its own.
CREATE DATABASE users;
