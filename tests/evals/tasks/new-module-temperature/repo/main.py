def main():
    """Print a greeting."""
    print("weather station")


if __name__ == "__main__":
    main()
